import type { OperationContext } from './context';
import type { Kind, Op } from './model';
import type { FieldErrors } from './validate';

/**
 * The props of every operation's form: the operation as the API types it, the change (a whole
 * new operation), its messages by path (`code`, `targets.0.number`, `exits.timeout`) and the lists
 * it picks from. The page's list and the visual editor's side panel both pass these.
 */
export interface OperationProps<K extends Kind> {
  value: Op<K>;
  onChange: (value: Op<K>) => void;
  errors: FieldErrors;
  ctx: OperationContext;
}
