"""The governance dashboard: ``streamlit run streamlit_app.py [-- spec.yaml]``.

Opens on the bundled example; a spec can be given after ``--`` or in
$AUDITOR_SPEC. The page lives in :mod:`auditor.dashboard.app`; like the CLI it
only calls the library and computes no metric itself.
"""

from auditor.dashboard.app import main

main()
