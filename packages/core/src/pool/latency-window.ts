/** The last `capacity` samples, for p50/p99 in `stats()` without unbounded memory. */
export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(private readonly capacity = 1024) {}

  add(value: number): void {
    if (this.samples.length < this.capacity) this.samples.push(value);
    else this.samples[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
  }

  percentile(p: number): number | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }

  get count(): number {
    return this.samples.length;
  }
}
