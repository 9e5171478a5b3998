"""HTTP routes, one APIRouter per resource: v1 jobs, garments, ops, and the seed's routes."""
