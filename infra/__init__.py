"""AWS CDK (Python) app for the Market Data Warehouse API: one construct per concern."""
