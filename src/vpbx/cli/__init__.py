"""Command line: vpbx run | migrate | seed | config export/import."""
