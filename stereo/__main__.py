from stereo.cli import main

main()
