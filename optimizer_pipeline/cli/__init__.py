"""The command line (`optimizer-pipeline`) and the demo it runs."""
