// Who is signed in, per tab (sessionStorage, as a real app would keep its own session), and the demo's token endpoint.

export const session = {
  get: (key) => JSON.parse(sessionStorage.getItem(key) ?? 'null'),
  set: (key, value) => sessionStorage.setItem(key, JSON.stringify(value)),
  remove: (key) => sessionStorage.removeItem(key),
};

/** Signs in with the demo's token endpoint (it also sets the HttpOnly cookie that native EventSource sends). */
export async function requestToken(userId, admin) {
  const response = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId, admin }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error([].concat(body.message).join('; '));
  return body.token;
}

/** The token to send now; with `refresh` (after a 401), a new one, as an app's refresh would give. */
export async function currentToken(refresh) {
  const auth = session.get('auth');
  if (!auth) return undefined;
  if (!refresh) return auth.token;
  const token = await requestToken(auth.userId, auth.admin);
  session.set('auth', { ...auth, token });
  return token;
}

/** The cookie is HttpOnly: only the server can clear it. */
export function clearCookie() {
  void fetch('/demo/token', { method: 'DELETE' });
}
