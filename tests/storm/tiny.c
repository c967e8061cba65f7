/* The exec target of tracer's storms: a static binary that exits 0 at once, so
 * that an exec storm measures exec (and its tracing), not the program run. */
int main(void) { return 0; }
