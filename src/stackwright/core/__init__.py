"""Platform core: settings, errors, database, migrations, ids, clock, plugin registries."""
