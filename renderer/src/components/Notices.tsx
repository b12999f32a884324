// Errors and confirmations that do not belong to one field: a stack at the bottom right.
import { useEffect } from 'react';
import { useApp } from '../StoreContext.js';
import { Icon } from './Icon.js';

export function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  // Information fades by itself; errors stay until read.
  useEffect(() => {
    const timers = notices.filter((n) => n.tone === 'info').map((n) => setTimeout(() => dismiss(n.id), 5000));
    return () => timers.forEach(clearTimeout);
  }, [notices, dismiss]);

  return (
    <div className="notices" aria-live="polite">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice notice--${notice.tone}`} role={notice.tone === 'error' ? 'alert' : 'status'}>
          <span>{notice.text}</span>
          <button className="icon-button" aria-label="Dismiss" onClick={() => dismiss(notice.id)}>
            <Icon name="close" size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}
