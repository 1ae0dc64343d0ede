"""`python -m signcaps …` (used by torchrun: `torchrun --nproc-per-node 2 -m signcaps train …`)."""
from signcaps.cli import app

app()
