/**
 * Which in-app notifications an event makes, and for whom (docs/desk-operations.md). Pure:
 * the event, the claim before it, and which mentioned names are users. Nobody is
 * notified of their own action. The kinds themselves are the domain's list.
 */
import { NOTIFICATION_KINDS, type ClaimEventEnvelope, type ClaimState, type NotificationKind } from '@claimtrail/domain';

export { NOTIFICATION_KINDS, type NotificationKind };

export interface DerivedNotification {
  recipient: string;
  kind: NotificationKind;
  /** Small, kind-specific facts for the desk to show without reading the claim. */
  data: Record<string, string | null>;
}

/** `@user` in a note: a user id after `@` at a word start (trailing sentence punctuation not part of it). */
const MENTION = /(?<![\p{L}\p{N}_.@-])@([A-Za-z0-9][A-Za-z0-9._-]{0,99})/gu;

/** The user ids a note's body mentions, in order, each once (not yet checked against the directory). */
export function mentionedIds(body: string): string[] {
  const ids: string[] = [];
  for (const match of body.matchAll(MENTION)) {
    const id = match[1]!.replace(/[._-]+$/, '');
    if (id.length > 0 && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

function excerpt(text: string): string {
  return text.length <= 140 ? text : `${text.slice(0, 139)}…`;
}

/**
 * The notifications of one event. `directory.isUser` answers whether a mentioned id is a
 * user; `directory.editors`: the desk's active editors (an escalation notifies them).
 */
export function notificationsOf(
  event: ClaimEventEnvelope,
  before: ClaimState,
  directory: { isUser(id: string): boolean; editors: readonly string[] },
): DerivedNotification[] {
  const out: DerivedNotification[] = [];
  const add = (recipient: string | null | undefined, kind: NotificationKind, data: Record<string, string | null> = {}) => {
    if (!recipient || recipient === event.actor) return;
    if (out.some((n) => n.recipient === recipient && n.kind === kind)) return;
    out.push({ recipient, kind, data });
  };
  switch (event.type) {
    case 'ClaimAssigned':
      add(event.data.assignee, 'assigned', { previousAssignee: event.data.previousAssignee });
      break;
    case 'ChangesRequested':
      add(before.verdictDraft?.author ?? before.assignee, 'changes_requested', { reason: excerpt(event.data.reason) });
      break;
    case 'VerdictPublished':
      add(event.data.draftedBy, 'verdict_published', { rating: event.data.rating });
      break;
    case 'VerdictCorrected':
      add(before.publishedVerdict?.author, 'verdict_corrected', { rating: event.data.rating, note: excerpt(event.data.note) });
      break;
    case 'ClaimRetracted':
      add(before.publishedVerdict?.author, 'verdict_retracted', { reason: excerpt(event.data.reason) });
      break;
    case 'NoteAdded':
      for (const id of mentionedIds(event.data.body)) {
        if (directory.isUser(id)) add(id, 'mentioned', { noteId: event.data.noteId, body: excerpt(event.data.body) });
      }
      break;
    case 'ClaimMerged':
      for (const worker of [before.assignee, before.verdictDraft?.author]) add(worker, 'claim_merged', { into: event.data.into });
      break;
    case 'ClaimEscalated':
      for (const editor of directory.editors) add(editor, 'claim_escalated', { state: event.data.state, since: event.data.since, dueAt: event.data.dueAt });
      break;
    default:
      break;
  }
  return out;
}
