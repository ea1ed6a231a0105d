/** An RFC 9457 problem document as the API sends it (`application/problem+json`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: string;
  [extension: string]: unknown;
}

/** Thrown for every non-2xx answer; carries the problem+json fields. */
export class ProblemError extends Error implements Problem {
  override readonly name = 'ProblemError';
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code: string;
  /** The whole problem document, extensions included (e.g. `currentVersion` on 412). */
  readonly problem: Problem;
  [extension: string]: unknown;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    this.code = problem.code;
    this.problem = problem;
    // Extensions (`currentVersion` on 412, `errors`, `field`, …) as properties too.
    for (const [key, value] of Object.entries(problem)) {
      if (!(key in this) && key !== 'stack') this[key] = value;
    }
  }
}

/** Builds a problem for answers that did not carry one (proxies, crashes, HTML pages). */
export function problemFromResponse(status: number, statusText: string, body: unknown): Problem {
  if (body && typeof body === 'object' && 'status' in body && 'title' in body) {
    const p = body as Partial<Problem>;
    return {
      ...(body as Record<string, unknown>),
      type: typeof p.type === 'string' ? p.type : 'about:blank',
      title: String(p.title),
      status: typeof p.status === 'number' ? p.status : status,
      code: typeof p.code === 'string' ? p.code : `http_${status}`,
      ...(typeof p.detail === 'string' ? { detail: p.detail } : {}),
    };
  }
  return {
    type: 'about:blank',
    title: statusText || `HTTP ${status}`,
    status,
    code: `http_${status}`,
    ...(typeof body === 'string' && body ? { detail: body.slice(0, 500) } : {}),
  };
}
