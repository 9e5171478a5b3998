"""CatVTON (Zheng-Chong/CatVTON): person and garment concatenated on SD1.5 inpainting."""
