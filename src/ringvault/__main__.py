from ringvault.cli import main

main()
