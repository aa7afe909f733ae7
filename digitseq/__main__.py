from digitseq.cli import main

main()
