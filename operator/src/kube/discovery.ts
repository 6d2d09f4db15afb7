import { isNotFound, type KubeClient } from "./client.js";
import { apiPrefix, groupVersion, type Resource } from "./resources.js";

/**
 * Whether optional APIs (ServiceMonitor, cert-manager Certificate) are served, from the discovery
 * endpoint (readable by every authenticated client, so no RBAC on CRDs is needed). Answers are
 * cached for a while, so a CRD installed later is noticed.
 */
export class Discovery {
  private readonly cache = new Map<string, { at: number; plurals: Set<string> }>();

  constructor(
    private readonly client: KubeClient,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async serves(res: Resource): Promise<boolean> {
    const gv = groupVersion(res);
    const hit = this.cache.get(gv);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.plurals.has(res.plural);
    let plurals = new Set<string>();
    try {
      const list = await this.client.request<{ resources?: { name: string }[] }>("GET", apiPrefix(res));
      plurals = new Set((list.resources ?? []).map((r) => r.name));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.cache.set(gv, { at: this.now(), plurals });
    return plurals.has(res.plural);
  }
}
