// kuma-dp's own counters and histograms for its components (the fetcher's
// kuma_dp_envoyconfigfetcher_*, the DNS proxy's kuma_dp_dns_*): plain numbers
// while running, turned into exposition families only when scraped, so the
// components need no metrics library.
import { formatLabels, type Family, type Labels, type Sample } from './exposition.js';

/** Series are keyed by their label text, which is also what gets printed. */
const keyOf = formatLabels;

interface Metric {
  families(): Family[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: string; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = [], by = 1): void {
    const key = keyOf(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: key, value: by });
  }

  get(labels: Labels = []): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  families(): Family[] {
    if (this.values.size === 0) return [];
    const samples: Sample[] = [...this.values.values()].map(({ labels, value }) => ({ name: this.name, labels, value: String(value) }));
    return [{ name: this.name, type: 'counter', help: this.help, samples }];
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: string; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(value: number, labels: Labels = []): void {
    const key = keyOf(labels);
    this.values.set(key, { labels: key, value });
  }

  families(): Family[] {
    if (this.values.size === 0) return [];
    const samples: Sample[] = [...this.values.values()].map(({ labels, value }) => ({ name: this.name, labels, value: String(value) }));
    return [{ name: this.name, type: 'gauge', help: this.help, samples }];
  }
}

/** Prometheus' default buckets, as client_golang's DefBuckets. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: string; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {}

  observe(seconds: number, labels: Labels = []): void {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: key, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]!) s.counts[i]! += 1;
    s.sum += seconds;
    s.count += 1;
  }

  families(): Family[] {
    if (this.series.size === 0) return [];
    const samples: Sample[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      const le = (bound: string): string => `${labels ? `${labels},` : ''}le="${bound}"`;
      this.buckets.forEach((bound, i) => samples.push({ name: `${this.name}_bucket`, labels: le(String(bound)), value: String(counts[i]) }));
      samples.push({ name: `${this.name}_bucket`, labels: le('+Inf'), value: String(count) });
      samples.push({ name: `${this.name}_sum`, labels, value: String(sum) });
      samples.push({ name: `${this.name}_count`, labels, value: String(count) });
    }
    return [{ name: this.name, type: 'histogram', help: this.help, samples }];
  }
}

/** Where components register their series; the metrics servers read it at scrape time. */
export class OwnSeries {
  private readonly metrics: Metric[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }

  families(): Family[] {
    return this.metrics.flatMap((m) => m.families());
  }

  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}
