// A CPU hog for the saturation benchmark: spins until killed.
for (;;) {
  for (let i = 0; i < 1e7; i++);
}
