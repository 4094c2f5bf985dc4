/**
 * Pieces the portal's list tables share, so every table names its columns and its row actions
 * the same way for screen readers and keyboards.
 */
import type { ComponentChildren } from 'preact';

/** A table head: one column header per name, then a last column for the row's buttons. */
export function HeadWithActions({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th key={column} scope="col">
            {column}
          </th>
        ))}
        <th scope="col">
          <span class="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  );
}

/** A row's name as a button that opens its details below the table, and closes them again. */
export function DisclosureButton<T>(props: {
  id: T;
  open: T | undefined;
  setOpen: (id: T | undefined) => void;
  label?: string;
  children: ComponentChildren;
}) {
  const { id, open, setOpen, label, children } = props;
  return (
    <button
      type="button"
      class="link"
      aria-expanded={open === id}
      aria-label={label}
      onClick={() => setOpen(open === id ? undefined : id)}
    >
      {children}
    </button>
  );
}
