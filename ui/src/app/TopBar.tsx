import type { ReactElement } from 'react';
import { NavLink } from 'react-router-dom';
import { useLiveStatus } from '../api/LiveEvents';
import { useSession } from './AuthGate';

const STATUS_TEXT = { connecting: 'Connecting', live: 'Live', offline: 'Reconnecting', idle: '' } as const;
const STATUS_TITLE = {
  connecting: 'Opening the change feed',
  live: 'Changes in the store appear as they happen',
  offline: 'The change feed is down; retrying. Pages show what they last read.',
  idle: 'This page does not follow the change feed',
} as const;

/** The dashboard's top bar: pages, the change feed's state, sign-out. */
export function TopBar(): ReactElement {
  const status = useLiveStatus();
  const { authRequired, signOut } = useSession();
  return (
    <header className="topbar">
      <NavLink to="/pipelines" className="brand">
        Sematic
      </NavLink>
      <nav>
        <NavLink to="/pipelines">Pipelines</NavLink>
        <NavLink to="/runs">Runs</NavLink>
      </nav>
      <span className="topbar-spacer" />
      <span className={`connection connection-${status}`} data-testid="connection" data-status={status} title={STATUS_TITLE[status]}>
        <span className="connection-dot" aria-hidden="true" />
        {STATUS_TEXT[status]}
      </span>
      {authRequired && (
        <button type="button" className="link-button" onClick={signOut}>
          Sign out
        </button>
      )}
    </header>
  );
}
