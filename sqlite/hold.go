package sqlite

import "github.com/den-run/den"

// turnSavepoint is the savepoint a turn runs in when earlier turns' writes
// are held in the open transaction.
var turnSavepoint = newSavepoint("_cf_turn")

// Hold ends the turn without committing it: its writes join those of the
// turns held before it in a transaction that stays open, and the next Begin
// opens a savepoint in it, so that a Rollback discards that turn's writes
// alone. The next Commit commits them all: turns that follow one another
// pay for one COMMIT between them, and a page they all change goes to the
// WAL once. It reports whether the turn changed any row. Nothing held is
// durable, or even committed, until that Commit: the caller holds the
// turns' outputs until then (the actor's write coalescing).
//
// A turn that leaves a deferred foreign key violated is not held, since its
// violation would fail the COMMIT of every turn held with it. If the
// transaction holds nothing yet, Hold reports ok false and changes nothing:
// Commit then fails as it would have. Otherwise the turn's writes are rolled
// back and Hold returns the constraint error, as a statement that failed
// would; the held writes stay.
func (d *DB) Hold() (ok, wrote bool, err error) {
	if d.err != nil {
		return false, false, d.err
	}
	if !d.inTurn || d.depth > 0 {
		return false, false, den.Errorf(den.EINTERNAL, "hold: no turn is open, or a Transaction is still running")
	}
	if deferredViolations(d.conn) {
		if !d.turnSP {
			return false, false, nil
		}
		d.Rollback()
		if d.err != nil {
			return false, false, d.err
		}
		return false, false, den.Errorf(den.EINVALID, "FOREIGN KEY constraint failed: a deferred foreign key is still violated at the end of the event, so its writes were rolled back")
	}
	d.closeCursors(errTurnEnded)
	if d.turnSP {
		if err := d.exec(turnSavepoint.release); err != nil {
			return false, false, d.fail("hold", err)
		}
	}
	wrote = d.dirty
	d.heldDirty = d.heldDirty || d.dirty
	d.inTurn, d.turnSP, d.dirty, d.held = false, false, false, true
	return true, wrote, nil
}

// Held reports whether earlier turns' writes wait in the open transaction
// for a Commit.
func (d *DB) Held() bool { return d.held }
