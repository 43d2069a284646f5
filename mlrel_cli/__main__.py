from mlrel_cli.cli.app import main

main()
