"""The main window's panels (one package each; they talk only through AppState)."""
