from mortard.cli import main

raise SystemExit(main())
