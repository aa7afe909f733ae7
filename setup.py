"""Packaging for digitseq: Beam render/score jobs, tf.data reader and Keras CTC recognizer.

The same file serves `pip install .` and Dataflow's `--setup_file ./setup.py`.
Dependency ranges are the ones tried together on Python 3.11 (see docs/DESIGN.md): tensorflow-io
0.37.1 is the last release of that project and its native ops load only with TensorFlow 2.17.
"""

import setuptools

INSTALL_REQUIRES = [
    "tensorflow>=2.17.1,<2.18",
    "tensorflow-io==0.37.1",
    "apache-beam>=2.77,<3",  # the releases tested; see README (Beam versions)
    "keras>=3.5,<4",
    "numpy>=1.26,<2",
    "protobuf>=4.25,<5",
    "editdistance>=0.8",
    "matplotlib>=3.8",
    "pillow>=10",  # font glyphs (FreeType with WOFF2) for render --fonts
    "pyarrow>=14",
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest>=8",
        "ruff==0.17.6",  # make lint; pinned so the formatting it checks does not move
        "build>=1.0",
        # Parses schemas/schema.pbtxt as a real TFMD Schema; 1.17+ needs protobuf 5+.
        "tensorflow-metadata>=1.15,<1.17",
    ],
    "gcp": ["apache-beam[gcp]>=2.77,<3"],
    # bench/elsewhere.py: the UCI handwritten digits scikit-learn bundles (a source not MNIST).
    "bench": ["scikit-learn>=1.3"],
}

setuptools.setup(
    name="digitseq",
    version="0.1.0",
    description="Handwritten digit-string recognition: Beam render and scoring jobs, "
    "a bucketed tf.data reader and a Keras 3 CTC recognizer.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Developers",
        "Intended Audience :: Science/Research",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["digitseq", "digitseq.*"])
    + ["digitseq.pipelines.render.data", "digitseq.recognizer.serving.builtin"],
    package_data={
        "digitseq.schemas": ["*.pbtxt"],
        "digitseq.pipelines.render.data": ["*.npz", "*.json"],
        "digitseq.recognizer.serving.builtin": ["*.json", "**/*"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["digitseq=digitseq.cli:main"]},
)
