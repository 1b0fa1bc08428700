"""pttui's terminal side: the `pttui` command line and the Textual app.

The app is a client of the headless mode: it runs `python -m pttui.engine run TOPIC --json` as a
child process and renders the events it prints. Nothing here imports torch.
"""
