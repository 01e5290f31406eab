CREATE TABLE corpus (id int);
