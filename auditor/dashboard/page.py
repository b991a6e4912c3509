"""The page as a script Streamlit can run from an installed package (the launcher's target).

``streamlit_app.py`` at the repository root is the same page for ``streamlit run``
from a checkout; both only call :func:`auditor.dashboard.app.main`.
"""

from auditor.dashboard.app import main

main()
