"""Models trained by this project (installed as the data package `edge.models`)."""
