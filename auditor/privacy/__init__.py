"""Privacy: the suppression plan, its disclosure check, and publishing a report under it."""
