"""Read the digits on a few images in-process with `digitseq.Reader`.

python examples/read_images.py scans/form-1.png scans/form-2.jpg
"""

import sys

import digitseq

reader = digitseq.Reader(model="general")
for reading in reader.read(sys.argv[1:], errors="keep"):
    print(reading.source, reading.error or f"{reading.digits} ({reading.confidence:.3f})")
