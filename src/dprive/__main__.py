from dprive.cli import main

raise SystemExit(main())
