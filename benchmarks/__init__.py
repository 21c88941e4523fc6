"""Speed and quality benchmarks; each prints JSON lines and can write its table into docs/."""
