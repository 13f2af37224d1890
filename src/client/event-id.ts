// The server's event ids are positions in one order shared by every stream: `<milliseconds>-<sequence>`.
const EVENT_ID = /^(\d+)-(\d+)$/;

/**
 * Whether `id` comes after `than` (nothing yet: everything does). Ids of
 * another form cannot be ordered, so they count as new rather than be dropped.
 */
export function isAfter(id: string, than: string | undefined): boolean {
  const a = EVENT_ID.exec(id);
  const b = than === undefined ? null : EVENT_ID.exec(than);
  return !a || !b || (+a[1] - +b[1] || +a[2] - +b[2]) > 0;
}
