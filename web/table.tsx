/**
 * The pieces every list page draws the same way: the table whose first column names the row
 * (a row header for screen readers) and whose cells carry their column's name for the stacked
 * layout of a narrow screen (`table.stack` in style.css), and a state badge.
 */
import type { ComponentChildren } from 'preact';

export interface Column<T> {
  /** The header; also each cell's `data-label`, shown beside the value on a narrow screen. */
  label: string;
  /** A header read only by screen readers, and no label on a narrow screen (an actions column). */
  hidden?: boolean;
  cell: (row: T) => ComponentChildren;
  /** A class for the cell, from its row. */
  cellClass?: (row: T) => string | undefined;
}

export function ListTable<T>(props: { rows: readonly T[]; rowKey: (row: T) => string; columns: readonly Column<T>[]; class?: string }) {
  const [first, ...rest] = props.columns;
  if (!first) return null;
  return (
    <div class="scroll">
      <table class={props.class ? `${props.class} stack` : 'stack'}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.label}>
                {c.hidden ? <span class="sr-only">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={props.rowKey(r)}>
              <th scope="row">{first.cell(r)}</th>
              {rest.map((c) => (
                <td key={c.label} data-label={c.hidden ? '' : c.label} class={c.cellClass?.(r)}>
                  {c.cell(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`state ${state}`}>{state}</span>;
}
