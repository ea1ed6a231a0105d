/**
 * The desk (GET / and /desk/…): the board, claims, actions, history and the audit view,
 * as a preact app over @claimtrail/client. No inline script: the page loads this bundle.
 */
import { render } from 'preact';
import { html } from './html.ts';
import { App } from './app.ts';
import { Session, loadConfig } from './session.ts';

const session = new Session(await loadConfig());
const root = document.getElementById('app');
if (root) render(html`<${App} session=${session} />`, root);
