"""What users run: the command line, the main job, the server, tuning, dry run, predict's documents."""
