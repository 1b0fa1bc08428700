"""The app's screens: the topic list (home), a topic, past runs, and help."""
