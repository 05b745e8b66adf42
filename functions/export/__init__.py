"""The export Lambda: bulk exports and lake writes, from the export queue."""
