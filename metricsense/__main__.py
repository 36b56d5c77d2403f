from metricsense.cli import main

main()
