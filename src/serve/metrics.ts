/**
 * Counters of the HTTP service and their Prometheus text exposition (format 0.0.4): requests by
 * route and status code, a latency histogram of /predict, points predicted, seconds spent
 * predicting, and the queue's state. Route labels are a fixed set (unknown paths count as
 * "other"), so hostile requests cannot grow the label space.
 */

export const ROUTES = ['/predict', '/healthz', '/metrics', '/', 'other', 'none'] as const;
export type Route = (typeof ROUTES)[number];

/** Upper bounds (seconds) of the /predict latency histogram buckets. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

export interface QueueState {
  in_flight: number;
  /** /predict requests between arrival and answer. */
  pending: number;
  waiting: number;
  capacity: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly buckets = new Float64Array(LATENCY_BUCKETS.length);
  private latencyCount = 0;
  private latencySum = 0;
  targetPoints = 0;
  contextPoints = 0;
  predictSeconds = 0;
  clientAborts = 0;
  readonly started = Date.now();

  /** One answered request. `route` "none": refused before it was parsed (bad HTTP, slow headers). */
  countRequest(route: Route, status: number): void {
    const key = `${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /** Time from the request's arrival to its answer being sent, for /predict. */
  observeLatency(seconds: number): void {
    this.latencyCount++;
    this.latencySum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]!) this.buckets[i]!++;
  }

  /** Requests answered with `status` (any route), for tests and /healthz. */
  requestsWith(status: number): number {
    let n = 0;
    for (const [k, v] of this.requests) if (k.endsWith(`\u0000${status}`)) n += v;
    return n;
  }

  /** The Prometheus text format. */
  render(queue: QueueState): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${formatValue(v)}`);
    };
    const reqs = [...this.requests].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]): [string, number] => {
      const [route, code] = k.split('\u0000');
      return [`{route="${route}",code="${code}"}`, v];
    });
    metric('bsa_tnp_http_requests_total', 'counter', 'HTTP requests answered, by route and status code.', reqs);
    metric('bsa_tnp_http_client_aborts_total', 'counter', 'Requests whose client closed the connection before the answer.', [['', this.clientAborts]]);
    lines.push('# HELP bsa_tnp_predict_duration_seconds Time from a /predict request arriving to its answer being sent (queue wait included).',
      '# TYPE bsa_tnp_predict_duration_seconds histogram');
    LATENCY_BUCKETS.forEach((le, i) => lines.push(`bsa_tnp_predict_duration_seconds_bucket{le="${le}"} ${this.buckets[i]}`));
    lines.push(`bsa_tnp_predict_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`,
      `bsa_tnp_predict_duration_seconds_sum ${formatValue(this.latencySum)}`,
      `bsa_tnp_predict_duration_seconds_count ${this.latencyCount}`);
    metric('bsa_tnp_predicted_points_total', 'counter', 'Target points predicted (divide its rate by bsa_tnp_predict_seconds_total\'s for points per second of compute).', [['', this.targetPoints]]);
    metric('bsa_tnp_context_points_total', 'counter', 'Context points encoded.', [['', this.contextPoints]]);
    metric('bsa_tnp_predict_seconds_total', 'counter', 'Seconds spent encoding contexts and predicting.', [['', this.predictSeconds]]);
    metric('bsa_tnp_queue_length', 'gauge', 'Requests waiting for the model.', [['', queue.waiting]]);
    metric('bsa_tnp_queue_capacity', 'gauge', 'Most requests that may wait (server flag --queue).', [['', queue.capacity]]);
    metric('bsa_tnp_predict_pending', 'gauge', '/predict requests between arrival and answer (being read, waiting or predicted).', [['', queue.pending]]);
    metric('bsa_tnp_in_flight', 'gauge', 'Requests being predicted now (0 or 1).', [['', queue.in_flight]]);
    metric('bsa_tnp_uptime_seconds', 'gauge', 'Seconds since the service started.', [['', (Date.now() - this.started) / 1000]]);
    return `${lines.join('\n')}\n`;
  }
}

/** Shortest round-trip form; Prometheus reads any Go float syntax ("1e-07", "0.25"). */
function formatValue(v: number): string {
  return String(v);
}
