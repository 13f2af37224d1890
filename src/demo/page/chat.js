// The assistant: an answer streamed over a POST, read with the client's POST streams. A broken answer is resumed by
// a GET at the location the server named (never by asking again), and so is one that was being read before a reload.
import { postStream, resumeStream } from '/client.js';
import { currentToken, session } from './session.js';

const $ = (id) => document.getElementById(id);
const ENDINGS = { done: 'Answer complete.', cancelled: 'Answer stopped.' };
const options = { getToken: ({ refresh }) => currentToken(refresh) };
let answering = null; // the PostStream being read

function bubble(kind, text) {
  const el = Object.assign(document.createElement('div'), { className: `bubble ${kind}`, textContent: text });
  $('chat-log').append(el);
  $('chat-log').scrollTop = $('chat-log').scrollHeight;
  return el;
}

function setChatState(state, text) {
  $('chat-state').textContent = text;
  $('chat-state').dataset.state = state;
}

export function renderChat(signedIn) {
  $('chat-send').disabled = !signedIn || answering !== null;
  $('chat-stop').disabled = answering === null;
}

/** Reads an answer to its end, keeping where it got to (to resume it after a reload). */
async function read(stream, answer, el) {
  answering = stream;
  renderChat(true);
  setChatState('streaming', 'The assistant is answering…');
  let ending = null;
  try {
    for await (const event of stream) {
      if (event.type === 'token') el.textContent = answer.text += event.data;
      if (event.type === 'error') {
        el.classList.add('failed');
        setChatState('error', `The assistant failed: ${event.data.message}`);
      }
      if (event.type in ENDINGS) setChatState(event.type, ENDINGS[event.type]);
      ending ??= event.type === 'error' || event.type in ENDINGS ? event.type : null;
      session.set('answer', { ...answer, resumeUrl: stream.resumeUrl, lastEventId: stream.lastEventId });
    }
    if (!ending) setChatState('ended', 'Answer ended.');
    session.remove('answer');
  } catch (err) {
    // Kept: a reload tries to resume it.
    setChatState('failed', `The answer could not be read: ${err.message}`);
  } finally {
    answering = null;
    renderChat(session.get('auth') !== null);
  }
}

export async function ask(message) {
  bubble('user', message);
  const answer = { question: message, text: '' };
  await read(postStream('/chat', { message }, options), answer, bubble('assistant', ''));
}

/** After a reload mid-answer: show what arrived, then read the rest after the last event received. */
export async function resumeAnswer() {
  const saved = session.get('answer');
  if (!saved?.resumeUrl || !session.get('auth')) return;
  bubble('user', saved.question);
  await read(resumeStream(saved.resumeUrl, saved.lastEventId, options), saved, bubble('assistant', saved.text));
}

/** Stops the answer on the server; its stream then ends with `cancelled`. */
export function stopAnswer() {
  void answering?.cancel();
}
