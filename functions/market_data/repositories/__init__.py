"""PostgreSQL data access. Parameterised SQL only; each module owns one table family."""
