// A dashboard's use of the agent API through the types openapi-typescript generates from /openapi/v1.json
// (api.d.ts, made next to this file: see README "For dashboard developers"). OpenApiClientTests type-checks it
// with tsc --strict against the document the agent serves.
import type { components, paths } from "./api";

type SessionsPage = paths["/api/v1/sessions"]["get"]["responses"][200]["content"]["application/json"];
type OpenSession = paths["/api/v1/containers/{containerId}/sessions"]["post"];
type OpenSessionBody = components["schemas"]["OpenSessionRequest"];
type SessionAnswer = OpenSession["responses"][201]["content"]["application/json"];
type EndSessionBody = components["schemas"]["EndSessionRequest"];
type PairAnswer = paths["/api/v1/sessions/{sessionId}/evidence/pair"]["get"]["responses"][200]["content"]["application/json"];
type ErrorAnswer = components["schemas"]["ApiErrorEnvelope"];
type Capture = components["schemas"]["CaptureDto"];
type MissingReason = NonNullable<Capture["missing_reason"]>;

const agent = "http://pi-site-7.lan:8082";

async function get<T>(path: string): Promise<T | ErrorAnswer> {
  const response = await fetch(agent + path);
  return (await response.json()) as T | ErrorAnswer;
}

/** Exhaustive: a reason added to the API and not handled here fails the type check. */
export function explain(reason: MissingReason): string {
  switch (reason) {
    case "SESSION_IN_PROGRESS": return "the session is still running";
    case "NO_OPEN_EVENT": return "the door opened without an open event, so no before photo";
    case "CAPTURE_FAILED": return "the camera did not deliver a good photo";
    case "CAMERA_OFFLINE": return "the camera was offline";
    case "DOOR_LEFT_OPEN": return "the door is still open";
    case "NO_DOOR_CYCLE": return "a test capture: no door opened or closed around it";
    case "ENDED_WITHOUT_CAPTURE": return "the session was ended without an after photo";
    default: {
      const unhandled: never = reason;
      return unhandled;
    }
  }
}

function describeSide(side: Capture | null, label: string): string {
  if (side === null) return `${label}: none`;
  if (side.status === "captured") return `${label}: ${side.object_key ?? "(not stored yet)"} at ${side.captured_at ?? side.created_at ?? "?"}`;
  return `${label}: ${side.status}, ${side.missing_reason ? explain(side.missing_reason) : side.failure_reason ?? "no reason given"}`;
}

/** Lists the newest sessions and says, for each, what its before/after pair shows or why it is incomplete. */
export async function listPairs(containerId: string): Promise<string[]> {
  const page = await get<SessionsPage>(`/api/v1/sessions?container_id=${encodeURIComponent(containerId)}&limit=10`);
  if (!page.success) return [`sessions: ${page.error.code}: ${page.error.message}`];
  const lines: string[] = [];
  for (const session of page.data.sessions) {
    const pair = await get<PairAnswer>(`/api/v1/sessions/${encodeURIComponent(session.id)}/evidence/pair`);
    if (!pair.success) {
      lines.push(`${session.id}: ${pair.error.code}${pair.error.field ? ` (${pair.error.field})` : ""}`);
      continue;
    }
    const data = pair.data;
    if (data.pair_status === "incomplete") {
      lines.push(`${session.id} incomplete (${session.status}, opened ${session.opened_at ?? "never"})`);
      if (data.retry_after_seconds !== undefined) lines.push(`  ask again in ${data.retry_after_seconds} s`);
    } else {
      lines.push(`${session.id} complete, chain ${session.chain_head ?? "none"}`);
    }
    lines.push("  " + describeSide(data.before, "before"), "  " + describeSide(data.after, "after"));
  }
  if (page.data.has_more && page.data.next_cursor !== null) lines.push(`more: cursor ${page.data.next_cursor}`);
  return lines;
}

type EvidencePath = paths["/api/v1/sessions/{sessionId}/evidence"]["get"];
type EvidencePage = EvidencePath["responses"][200]["content"]["application/json"];
type CaptureTag = NonNullable<NonNullable<EvidencePath["parameters"]["query"]>["capture_tag"]>;

/**
 * Every capture of a session (of one tag when given) in the order of its hash chain, 100 a page, following next_cursor
 * until has_more is false; image_data is left out and each image fetched by object_key when shown.
 */
export async function capturesOf(sessionId: string, tag?: CaptureTag): Promise<string[]> {
  const lines: string[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ include_image: "false", limit: "100" });
    if (tag !== undefined) query.set("capture_tag", tag);
    if (cursor !== null) query.set("cursor", cursor);
    const page = await get<EvidencePage>(`/api/v1/sessions/${encodeURIComponent(sessionId)}/evidence?${query}`);
    if (!page.success) return [...lines, `evidence: ${page.error.code}${page.error.field ? ` (${page.error.field})` : ""}`];
    const summary = page.data.summary;
    if (cursor === null) lines.push(`${summary.total_captures} captures (${summary.failed_captures} failed), pair ${summary.pair_complete ? "complete" : "incomplete"}`);
    for (const capture of page.data.captures)
      lines.push(`${capture.captured_at ?? capture.created_at ?? "?"} ${capture.capture_tag} ${capture.status} ${capture.object_key ?? capture.failure_reason ?? ""}`);
    cursor = page.data.has_more ? page.data.next_cursor : null;
  } while (cursor !== null);
  return lines;
}

/** A session's timelapse: its DURING_OPEN frames in order, each as a thumbnail URL (frames carry no image_data). */
export async function timelapseOf(sessionId: string): Promise<string[]> {
  const lines: string[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ include_image: "false", limit: "100", capture_tag: "DURING_OPEN" satisfies CaptureTag });
    if (cursor !== null) query.set("cursor", cursor);
    const page = await get<EvidencePage>(`/api/v1/sessions/${encodeURIComponent(sessionId)}/evidence?${query}`);
    if (!page.success) return [...lines, `evidence: ${page.error.code}`];
    if (cursor === null) lines.push(`${page.data.summary.frames} frame(s) besides the pair's ${page.data.summary.total_captures} capture(s)`);
    for (const f of page.data.captures.filter(c => c.status === "captured"))
      lines.push(`#${f.sequence ?? "?"} ${f.captured_at ?? "?"} ${agent}/api/v1/evidence/image?key=${encodeURIComponent(f.object_key ?? "")}&size=thumb`);
    cursor = page.data.has_more ? page.data.next_cursor : null;
  } while (cursor !== null);
  return lines;
}

/** Writes need the site's Api:Key; a retry with the same Idempotency-Key returns the same session (200 instead of 201). */
async function post<T>(path: string, apiKey: string, body: unknown, idempotencyKey?: string): Promise<T | ErrorAnswer> {
  const headers: Record<string, string> = { "Authorization": `Bearer ${apiKey}`, "Content-Type": "application/json" };
  if (idempotencyKey !== undefined) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(agent + path, { method: "POST", headers, body: JSON.stringify(body) });
  return (await response.json()) as T | ErrorAnswer;
}

/** Opens an inspection session with notes and the operator's name, then ends it with a reason. */
export async function inspect(containerId: string, apiKey: string, operator: string, notes: string): Promise<string> {
  const body: OpenSessionBody = { opened_by: operator, notes };
  const opened = await post<SessionAnswer>(`/api/v1/containers/${encodeURIComponent(containerId)}/sessions`, apiKey, body, crypto.randomUUID());
  if (!opened.success) return `open: ${opened.error.code}: ${opened.error.message}`;
  const end: EndSessionBody = { reason: "inspection done", after_close: true };
  const ended = await post<SessionAnswer>(`/api/v1/sessions/${encodeURIComponent(opened.data.id)}/end`, apiKey, end);
  if (!ended.success) return `end: ${ended.error.code}: ${ended.error.message}`;
  return `${ended.data.id} opened by ${ended.data.opened_by ?? "?"}, ended by ${ended.data.ended_by ?? "?"}: ${ended.data.end_reason ?? "no reason"}`;
}

type AuditPage = paths["/api/v1/audit"]["get"]["responses"][200]["content"]["application/json"];
type AuditAction = components["schemas"]["AuditEventDto"]["action"];

/** The audit trail needs the site's Api:Key too; pages follow next_cursor until has_more is false. */
export async function auditOf(sessionId: string, apiKey: string, action?: AuditAction): Promise<string[]> {
  const lines: string[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ session_id: sessionId, limit: "100" });
    if (action !== undefined) query.set("action", action);
    if (cursor !== null) query.set("cursor", cursor);
    const response = await fetch(`${agent}/api/v1/audit?${query}`, { headers: { "Authorization": `Bearer ${apiKey}` } });
    const page = (await response.json()) as AuditPage | ErrorAnswer;
    if (!page.success) return [...lines, `audit: ${page.error.code}${page.error.field ? ` (${page.error.field})` : ""}`];
    for (const event of page.data.events)
      lines.push(`${event.at} ${event.actor} from ${event.address ?? "?"}: ${event.action} on ${event.container_id ?? "-"}/${event.session_id ?? "-"}${event.detail ? ` (${event.detail})` : ""}`);
    cursor = page.data.has_more ? page.data.next_cursor : null;
  } while (cursor !== null);
  return lines;
}

type MintBody = components["schemas"]["MintInviteRequest"];
type Minted = paths["/api/v1/invites"]["post"]["responses"][201]["content"]["application/json"];
type InviteList = paths["/api/v1/invites"]["get"]["responses"][200]["content"]["application/json"];
type Joined = paths["/api/v1/join/{token}"]["post"]["responses"][200]["content"]["application/json"];
type InviteStatus = components["schemas"]["InviteDto"]["status"];

/** The admin invites a technician: the link and the code are shown once, to be sent apart. */
export async function invite(apiKey: string, name: string, containers: string[], ttlMinutes: number): Promise<string> {
  const body: MintBody = { name, containers, ttl_minutes: ttlMinutes };
  const minted = await post<Minted>("/api/v1/invites", apiKey, body);
  if (!minted.success) return `invite: ${minted.error.code}: ${minted.error.message}`;
  return `${minted.data.id}: send ${minted.data.join_url} and, apart, the code ${minted.data.otp_code} (until ${minted.data.otp_expires_at})`;
}

/** Invites still kept, and whether each can still be joined. */
export async function invites(apiKey: string): Promise<string[]> {
  const response = await fetch(`${agent}/api/v1/invites`, { headers: { "Authorization": `Bearer ${apiKey}` } });
  const list = (await response.json()) as InviteList | ErrorAnswer;
  if (!list.success) return [`invites: ${list.error.code}`];
  const joinable = (status: InviteStatus) => status === "pending";
  return list.data.invites.map(i => `${i.id} ${i.name} [${i.containers.join(", ")}] ${i.status}${joinable(i.status) ? " (can join)" : ""}`);
}

/** A technician's script joins once with the link's token and the code, then takes a test capture with the credential. */
export async function joinAndCapture(token: string, code: string, containerId: string): Promise<string> {
  const response = await fetch(`${agent}/api/v1/join/${encodeURIComponent(token)}`, { method: "POST", headers: { "X-Join-OTP": code } });
  const joined = (await response.json()) as Joined | ErrorAnswer;
  if (!joined.success) return `join: ${joined.error.code}: ${joined.error.message}`;
  const capture = await post<paths["/api/v1/containers/{containerId}/captures"]["post"]["responses"][201]["content"]["application/json"]>(
    `/api/v1/containers/${encodeURIComponent(containerId)}/captures`, joined.data.access_token, {});
  return capture.success ? `${joined.data.name}: captured ${capture.data.evidence_id}` : `capture: ${capture.error.code}`;
}
