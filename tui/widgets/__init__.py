"""The app's widgets, one per file: each pane renders one kind of event, for every lab."""
