-- The package or namespace a file declares (C# `namespace Shop.Models`, PHP `namespace App\Models`),
-- from which a graph rebuilt on any replica resolves `using` and `use` the same way.
ALTER TABLE files ADD COLUMN package TEXT;
