// A destructive button that asks once more in place (no modal dialog to dismiss).
import { useEffect, useState } from 'react';
import { Icon, type IconName } from './Icon.js';

interface Props {
  /** Accessible name of the first button, e.g. "Delete notes.md". */
  label: string;
  icon: IconName;
  /** Text of the confirming button, e.g. "Delete". */
  confirmText: string;
  onConfirm: () => void;
}

export function ConfirmButton({ label, icon, confirmText, onConfirm }: Props) {
  const [asking, setAsking] = useState(false);
  // Forget the question after a while, so a later stray click does not confirm it.
  useEffect(() => {
    if (!asking) return;
    const timer = setTimeout(() => setAsking(false), 4000);
    return () => clearTimeout(timer);
  }, [asking]);

  if (!asking) {
    return (
      <button className="icon-button" aria-label={label} title={label} onClick={() => setAsking(true)}>
        <Icon name={icon} />
      </button>
    );
  }
  return (
    <span className="confirm">
      <button className="button button--danger button--small" aria-label={`Confirm: ${label}`} onClick={() => { setAsking(false); onConfirm(); }}>
        {confirmText}
      </button>
      <button className="button button--ghost button--small" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
