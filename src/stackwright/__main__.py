from stackwright.cli.main import main

main()
