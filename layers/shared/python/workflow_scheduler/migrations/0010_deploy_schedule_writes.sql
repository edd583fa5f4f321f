-- Deploys record what they wrote to a schedule too (issue 11, part 1: reconcile reads only what changed out of
-- band). CreateSchedule and UpdateSchedule return no LastModificationDate, so a deploy's row holds the window of its
-- own clock around the call: written_from (just before) .. modified_at (just after), and no checked_at (no reconcile
-- run has seen it). Reconcile takes a listed schedule whose date falls in that window (give or take the clocks'
-- skew) and whose state and target match as the deploy's write, and pins the date: written_from becomes NULL,
-- modified_at the listed date, checked_at that run's time. Rows reconcile writes itself have no window, as before.
-- This replaces migration 0008's note: deploys do write here now, in their own transaction.
-- No CHECK that written_from <= modified_at: a wall clock stepped back between the two readings must not fail a
-- deploy (such a window is only narrower: at worst the schedule is read once).
ALTER TABLE cron_schedule_writes
    ADD COLUMN written_from TIMESTAMPTZ,
    ALTER COLUMN checked_at DROP NOT NULL;
