"""protokit's benchmarks: each times protokit and the baseline a user would
otherwise pick, in the same process, interleaved, and reports the ratio."""
